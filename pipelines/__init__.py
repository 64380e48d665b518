"""The study pipeline: build, compile, and run it on KFP's local runner."""
