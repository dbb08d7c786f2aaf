"""Data: sources of raw records, text and image encoding, preprocessing, tf.data pipelines."""
