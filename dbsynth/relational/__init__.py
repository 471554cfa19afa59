"""Keys and links: fresh primary keys, foreign keys assigned to synthetic parents, uniqueness."""
