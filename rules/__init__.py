"""Rule pack: one YAML file per rule id."""
