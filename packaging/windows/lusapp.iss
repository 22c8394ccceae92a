; Inno Setup 6 script of LUSApp-Setup.exe: a per-user install (no administrator rights) of the one-folder bundle.
; Built by packaging\windows\build.ps1:  ISCC /DAppVersion=0.1.0 /DSourceDir=<repo>\dist\lusapp /O<repo>\dist lusapp.iss
; The user's data (%LOCALAPPDATA%\LUSApp: stores, published models) is never installed nor removed here.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#ifndef SourceDir
  #define SourceDir "..\..\dist\lusapp"
#endif

[Setup]
AppId={{6B0F3C2E-7C1D-4E43-9B0A-5A2E3C9D1F47}
AppName=LUSApp
AppVersion={#AppVersion}
AppVerName=LUSApp {#AppVersion}
AppPublisher=LUSApp
; Per-user: {autopf} is %LOCALAPPDATA%\Programs when PrivilegesRequired=lowest.
PrivilegesRequired=lowest
DefaultDirName={autopf}\LUSApp
DefaultGroupName=LUSApp
DisableProgramGroupPage=yes
UsePreviousAppDir=yes
OutputBaseFilename=LUSApp-Setup
Compression=lzma2/max
SolidCompression=yes
LZMANumBlockThreads=4
; x64compatible needs Inno Setup >= 6.3.
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
MinVersion=10.0
WizardStyle=modern
UninstallDisplayIcon={app}\lusapp.exe
; The icon of the setup exe itself (the installed exe carries the same icon, set by the spec).
SetupIconFile=..\..\resources\icons\lusapp.ico
UninstallDisplayName=LUSApp {#AppVersion}
CloseApplications=yes

[Files]
; The whole bundle; a reinstall first removes the old _internal so no stale library survives an upgrade.
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[InstallDelete]
Type: filesandordirs; Name: "{app}\_internal"

[Icons]
Name: "{autoprograms}\LUSApp"; Filename: "{app}\lusapp.exe"; WorkingDir: "{app}"
Name: "{userdesktop}\LUSApp"; Filename: "{app}\lusapp.exe"; WorkingDir: "{app}"; Tasks: desktopicon

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Run]
Filename: "{app}\lusapp.exe"; Description: "{cm:LaunchProgram,LUSApp}"; Flags: nowait postinstall skipifsilent

[UninstallDelete]
; Only the program folder (files Python or Qt may have written next to the exe). Never {localappdata}\LUSApp:
; that is the user's data (patient stores, finetuned models) and survives uninstall and upgrades.
Type: filesandordirs; Name: "{app}\_internal"
Type: dirifempty; Name: "{app}"
