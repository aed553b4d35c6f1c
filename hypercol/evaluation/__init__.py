"""Judging colorizations: PSNR, AuC and colorfulness against gray and the truth, and the semantic test
(ImageNet top-1 of a classifier on colorized photos).
"""
