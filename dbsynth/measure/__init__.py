"""Everything that reads private rows: reading, bounding, domain discovery, encoding, degrees."""
