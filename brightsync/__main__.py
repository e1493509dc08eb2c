from brightsync.cli import main

main()
