"""The deploy engine: the executor (planners, ops, steps, handlers, gates), where steps run (placement),
the operation primitives, SSH connections, the inventory loader and the deploy spec."""
