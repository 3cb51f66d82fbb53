"""The zoo: cached models, and their recipes per profile, that several lessons and the sweeps reuse."""
