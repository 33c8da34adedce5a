"""Local stand-ins for Google (OAuth + Calendar v3), Microsoft (Entra ID + Graph) and Exchange (EWS).

They speak the providers' wire formats so the real client libraries can be
pointed at them unchanged. The test suite drives them, and the demo runs them
so a person can walk through "Connect Google" on one machine. Never for
production: they keep everything in memory and trust loopback.
"""
