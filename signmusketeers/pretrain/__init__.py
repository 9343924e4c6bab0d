"""signmusketeers.pretrain"""
