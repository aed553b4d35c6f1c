"""What a head is made of: backbones (registry, TF Hub loading), the head, hypercolumns, the model card
and the shipped heads (the last two without TensorFlow).
"""
