from fute.cli import main

main()
