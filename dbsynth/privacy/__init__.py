"""The privacy model: the ledger, the mechanisms that charge it, units and their sensitivities."""
