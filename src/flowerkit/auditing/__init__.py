"""Auditing a data folder: what is wrong with the data itself, and acting on it with
nothing lost (:mod:`flowerkit.auditing.moves`)."""
