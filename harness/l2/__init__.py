"""The L2 side: what runs inside L1 for one scenario (``probe`` VMM or ``linux`` guest)."""
