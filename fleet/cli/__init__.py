"""fleet's command line. Imports the library; the library never imports this."""
