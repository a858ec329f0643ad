"""The one evaluator behind every number a user sees (`evaluate`), the paper's figures (`plots`)
and MCAP recordings of the graph (`recording`)."""
