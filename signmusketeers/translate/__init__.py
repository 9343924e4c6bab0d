"""signmusketeers.translate"""
