"""signmusketeers.parsing"""
