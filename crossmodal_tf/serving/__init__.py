"""Graph pieces of an exported model (raw strings and image bytes in), which the tasks' export_endpoint hooks use."""
