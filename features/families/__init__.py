"""Feature families: each ``apply(lf, ctx) -> lf`` adds its registry columns (pure, lazy)."""
