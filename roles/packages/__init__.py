"""What runs on the nodes, package by package: each declares its planners, restart handlers and gates
once, and the platforms (roles/platforms/) place them."""
