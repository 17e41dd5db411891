"""scheduling: plans and milestones, status lights, daily monitoring, dispatch meetings (日监测、周调度)."""
