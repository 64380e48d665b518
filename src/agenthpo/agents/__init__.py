"""The paper's agents: the Creator (proposals), the Executor's analysis and the final analysis."""
