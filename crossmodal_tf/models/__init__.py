"""Model building blocks shared by the tasks: branches, fusions, custom layers."""
