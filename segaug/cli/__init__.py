"""segaug.cli"""
