print("symbolstream")
