"""Publicity (宣传): policy documents, news, laws and search."""
