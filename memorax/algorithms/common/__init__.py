"""Pieces shared by the algorithms."""
