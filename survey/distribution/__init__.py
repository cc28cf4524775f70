"""Distribution: batches by channel, sending, paper forms, the public channel."""
