"""The lessons: one folder per notebook (study, summary, figures, explorer) and the parts several share.

common.py holds the synthetic length tables of notebooks 03-05, generation.py the LM generations of notebooks 07 and 10.
A lesson never imports another lesson.
"""
