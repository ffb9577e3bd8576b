"""CLI sub-commands, one module per concept; each defines `register(group)`."""
