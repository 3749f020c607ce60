"""The post-sampling domain: the synthetic source, seeded actor sampling, and the flat row of a post."""
