# Build LUSApp-Setup.exe on Windows (x64, Python 3.11, Inno Setup 6). See docs/installer.md.
#
#   powershell -ExecutionPolicy Bypass -File packaging\windows\build.ps1 [-SelfTest] [-Python py] [-Iscc PATH]
#
# 1. build\venv: LUSApp's runtime dependencies (ONNX Runtime runs the model; no torch), PyInstaller
# 2. dist\lusapp\ (lusapp.exe windowed, lusapp-cli.exe console) from packaging\lusapp.spec
# 3. -SelfTest: dist\lusapp\lusapp-cli.exe --version and --self-test must pass
# 4. dist\LUSApp-Setup.exe with Inno Setup's ISCC from packaging\windows\lusapp.iss
param(
    [switch]$SelfTest,
    [string]$Python = "py",
    [string]$Iscc = "${env:ProgramFiles(x86)}\Inno Setup 6\ISCC.exe"
)
$ErrorActionPreference = "Stop"
$Root = (Resolve-Path "$PSScriptRoot\..\..").Path
Set-Location $Root
$Venv = "$Root\build\venv"
$Py = "$Venv\Scripts\python.exe"

function Invoke-Checked([string]$Exe, [string[]]$Arguments) {
    & $Exe @Arguments
    if ($LASTEXITCODE -ne 0) { throw "failed ($LASTEXITCODE): $Exe $($Arguments -join ' ')" }
}

if (-not (Test-Path $Py)) {
    $pyArgs = @("-m", "venv", $Venv)
    if ($Python -eq "py") { $pyArgs = @("-3.11") + $pyArgs }
    Invoke-Checked $Python $pyArgs
}
$pip = @("-m", "pip", "install", "-q", "--disable-pip-version-check")
# Runtime dependencies from pyproject.toml (no dev/train extras); lusapp itself is frozen from this tree.
$deps = & $Py -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml','rb'))['project']['dependencies']))"
if ($LASTEXITCODE -ne 0) { throw "cannot read pyproject.toml" }
Invoke-Checked $Py ($pip + ($deps -split "`r?`n" | Where-Object { $_ }) + @("pyinstaller>=6.10,<7"))
# A build venv from before still holds torch, SciPy, scikit-learn or scikit-image: the bundle must not (the spec
# excludes them too; docs/decisions/0011).
$notInBundle = "('torch', 'torchvision', 'sklearn', 'scipy', 'skimage')"
& $Py -c "import importlib.util as u, sys; sys.exit(0 if any(u.find_spec(m) for m in $notInBundle) else 1)"
if ($LASTEXITCODE -eq 0) {
    Invoke-Checked $Py @("-m", "pip", "uninstall", "-q", "-y", "torch", "torchvision", "scikit-learn", "scikit-image", "scipy")
}
Invoke-Checked $Py @("-c", "import importlib.util as u; bad = [m for m in $notInBundle if u.find_spec(m)]; assert not bad, bad")

if (Test-Path "dist\lusapp") { Remove-Item -Recurse -Force "dist\lusapp" }
$env:PYTHONPATH = $Root
Invoke-Checked $Py @("-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
    "--distpath", "$Root\dist", "--workpath", "$Root\build\pyinstaller", "packaging\lusapp.spec")
if (Test-Path "dist\lusapp\_internal\torch") { throw "torch got into the bundle" }
foreach ($pkg in "sklearn", "scipy", "scipy.libs", "skimage") {
    if (Test-Path "dist\lusapp\_internal\$pkg") { throw "$pkg got into the bundle (docs/decisions/0011)" }
}
$size = (Get-ChildItem -Recurse -File "dist\lusapp" | Measure-Object -Sum Length).Sum / 1MB
Write-Host ("bundle: dist\lusapp {0:N0} MB" -f $size)

if ($SelfTest) {
    $env:LUSAPP_DATA_DIR = "$Root\build\selftest-data"   # never the user's real data folder
    $env:QT_QPA_PLATFORM = "offscreen"
    if (Test-Path $env:LUSAPP_DATA_DIR) { Remove-Item -Recurse -Force $env:LUSAPP_DATA_DIR }
    $cli = "$Root\dist\lusapp\lusapp-cli.exe"
    Invoke-Checked $cli @("--version")
    $t = Measure-Command { & $cli --self-test | Out-Host }
    if ($LASTEXITCODE -ne 0) { throw "frozen self-test failed" }
    Write-Host ("frozen self-test passed in {0:N1} s" -f $t.TotalSeconds)
    Remove-Item Env:\LUSAPP_DATA_DIR, Env:\QT_QPA_PLATFORM
}

$version = & $Py -c "import lusapp; print(lusapp.__version__)"
if (-not (Test-Path $Iscc)) { throw "Inno Setup 6 not found at $Iscc (install it or pass -Iscc)" }
Invoke-Checked $Iscc @("/DAppVersion=$version", "/DSourceDir=$Root\dist\lusapp", "/O$Root\dist",
    "packaging\windows\lusapp.iss")
Write-Host "installer: dist\LUSApp-Setup.exe"
