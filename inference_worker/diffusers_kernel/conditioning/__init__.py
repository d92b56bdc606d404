"""Prompt chunks → text-encoder conditioning: emphasis weights, 75-token windows, textual inversion."""
