"""Real text corpora (Bible verses, WEB prose, stdlib code, your own files) and subword vocabularies."""
