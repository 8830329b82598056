"""The call taker's desk: the screen pop, the ticket form as they talk, the callback list."""
