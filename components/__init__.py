"""KFP components (thin wrappers over `agenthpo.study`). Importing this package needs kfp."""
