"""Files in and out: reading and validating inputs, mappings, rejects, atomic writes."""
