from lemur.cli import main

main()
