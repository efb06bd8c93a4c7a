"""pytest fixtures that start the sandbox QTickets API on an ephemeral loopback port."""
