"""Everything that runs over SSH: inventory, planners, the executor and the platforms."""
