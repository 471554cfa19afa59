"""Keys and links: fresh primary keys, foreign keys by a `Linker` (`pgd` or `degree`), uniqueness."""
