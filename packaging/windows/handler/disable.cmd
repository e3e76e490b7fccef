@echo off
rem VM extension disable on Windows (docs/extension.md, "Windows"): the installed agent does the work.
rem The handler folder, where HandlerEnvironment.json is, whatever folder the guest agent starts in.
cd /d "%~dp0"
"%ProgramW6432%\dsvm-agent\dsvm-agent.exe" extension disable
exit /b %errorlevel%
