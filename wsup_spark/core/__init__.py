"""Core types: errors, labeling functions, configuration. Imports only stdlib + numpy."""
