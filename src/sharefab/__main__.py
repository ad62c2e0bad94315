from sharefab.cli import app

app()
