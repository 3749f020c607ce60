from offsetflow.cli import main

main()
