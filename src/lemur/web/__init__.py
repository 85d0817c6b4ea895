"""HTTP plumbing shared by every router: dependencies, error rendering, body limits."""
