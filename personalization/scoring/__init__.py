"""Machine-learned personas and predictive scores (between profiles and segments)."""
