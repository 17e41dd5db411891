"""intake: programmes, projects, task forces, phases and progress reports (台账)."""
